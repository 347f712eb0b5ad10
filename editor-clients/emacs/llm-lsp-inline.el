;;; llm-lsp-inline.el --- ghost text for llm-lsp: accept all, a word or a line; cycle -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1"))
;; Keywords: tools, convenience

;;; Commentary:

;; Eglot has no inline-completion UI and lsp-mode 8.0 has none either, so this draws llm-lsp's
;; textDocument/inlineCompletion answers itself: an overlay after point (face `llm-lsp-inline-face'),
;; asked for `llm-lsp-inline-delay' seconds after typing.  While a suggestion is shown,
;; `llm-lsp-inline-active-map' is on:
;;
;;   TAB      accept the suggestion             llm-lsp-inline-accept
;;   M-f      accept its next word              llm-lsp-inline-accept-word
;;   C-e      accept the rest of its line       llm-lsp-inline-accept-line
;;   M-]      next alternative                  llm-lsp-inline-next
;;   M-[      previous alternative              llm-lsp-inline-previous
;;   C-g      hide it                           llm-lsp-inline-dismiss
;;
;; (rebind them in `llm-lsp-inline-active-map').  After a partial accept the rest of the same
;; suggestion is drawn at once and nothing is asked again.  The server hears what was shown and
;; accepted, as Copilot's clients tell it (textDocument/didShowCompletion,
;; textDocument/didPartiallyAcceptCompletion, the item's command): local figures only, see
;; M-x llm-lsp-stats.  llm-lsp-eglot.el and llm-lsp-lsp-mode.el turn it on; they pass the functions
;; that reach the server (`llm-lsp-inline-backend').

;;; Code:

(require 'cl-lib)
(require 'subr-x)

(defgroup llm-lsp-inline nil
  "Ghost text for the llm-lsp language server."
  :group 'tools
  :prefix "llm-lsp-inline-")

(defcustom llm-lsp-inline-delay 0.15
  "Seconds after the last change before a suggestion is asked for."
  :type 'number)

(defface llm-lsp-inline-face '((t :inherit shadow))
  "Face of the ghost text.")

(defvar-local llm-lsp-inline-backend nil
  "How this buffer reaches llm-lsp: a plist of functions.
:params () -> TextDocumentPositionParams at point;
:request (PARAMS ON-RESULT) sends textDocument/inlineCompletion, calls ON-RESULT with the answer;
:notify (METHOD PARAMS) sends a notification;
:execute (COMMAND) runs an LSP Command (workspace/executeCommand);
:to-point (POSITION) -> the buffer position of an LSP Position.")

(defvar-local llm-lsp-inline--items nil "The suggestions at point: plists :text :start :after :raw :consumed :shown.")
(defvar-local llm-lsp-inline--index 0 "Which of `llm-lsp-inline--items' is shown.")
(defvar-local llm-lsp-inline--overlay nil)
(defvar-local llm-lsp-inline--timer nil)
(defvar-local llm-lsp-inline--seq 0 "Bumped by every request and change: a late answer is dropped.")
(defvar-local llm-lsp-inline--editing nil "Non-nil while this module edits the buffer itself.")

(defvar llm-lsp-inline-active-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "TAB") #'llm-lsp-inline-accept)
    (define-key map (kbd "<tab>") #'llm-lsp-inline-accept)
    (define-key map (kbd "M-f") #'llm-lsp-inline-accept-word)
    (define-key map (kbd "C-e") #'llm-lsp-inline-accept-line)
    (define-key map (kbd "M-]") #'llm-lsp-inline-next)
    (define-key map (kbd "M-[") #'llm-lsp-inline-previous)
    (define-key map (kbd "C-g") #'llm-lsp-inline-dismiss)
    map)
  "Keys active while a suggestion is shown.")

(define-minor-mode llm-lsp-inline--visible-mode
  "On while a suggestion is shown: `llm-lsp-inline-active-map' is active."
  :keymap llm-lsp-inline-active-map)

;;;###autoload
(define-minor-mode llm-lsp-inline-mode
  "Ghost-text suggestions from llm-lsp in this buffer."
  :lighter nil
  (if llm-lsp-inline-mode
      (progn
        (add-hook 'after-change-functions #'llm-lsp-inline--after-change nil t)
        (add-hook 'post-command-hook #'llm-lsp-inline--post-command nil t))
    (remove-hook 'after-change-functions #'llm-lsp-inline--after-change t)
    (remove-hook 'post-command-hook #'llm-lsp-inline--post-command t)
    (llm-lsp-inline--reset)))

;;; Reading the server's items (Eglot gives plists, lsp-mode hash tables)

(defun llm-lsp-inline--get (object key)
  "KEY (a keyword) of OBJECT, a plist or a hash table."
  (cond ((hash-table-p object) (gethash (substring (symbol-name key) 1) object))
        ((listp object) (plist-get object key))))

(defun llm-lsp-inline--utf16-length (text)
  "TEXT's length in UTF-16 code units (how acceptedLength counts)."
  (let ((n 0))
    (mapc (lambda (char) (setq n (+ n (if (> char #xFFFF) 2 1)))) text)
    n))

(defun llm-lsp-inline--to-items (result)
  "The items of an inline completion RESULT as plists anchored in this buffer."
  (let* ((raw (if (and result (llm-lsp-inline--get result :items)) (llm-lsp-inline--get result :items) result))
         (to-point (plist-get llm-lsp-inline-backend :to-point))
         items)
    (when (or (vectorp raw) (listp raw))
      (mapc
       (lambda (item)
         (let* ((insert (llm-lsp-inline--get item :insertText))
                (text (if (stringp insert) insert (llm-lsp-inline--get insert :value)))
                (range (llm-lsp-inline--get item :range))
                (start (if range (funcall to-point (llm-lsp-inline--get range :start)) (point)))
                (end (if range (funcall to-point (llm-lsp-inline--get range :end)) (point))))
           (when (and (stringp text) (not (string-empty-p text)))
             ;; :after: characters after point the item replaces (closers the editor auto-inserted).
             (push (list :text text :start start :after (max 0 (- end (point))) :raw item :consumed 0)
                   items))))
       raw))
    (nreverse items)))

;;; Showing

(defun llm-lsp-inline--current ()
  (nth llm-lsp-inline--index llm-lsp-inline--items))

(defun llm-lsp-inline--rest (item)
  "What ITEM would still add at point, or nil when what was typed since does not continue it."
  (let ((start (plist-get item :start)))
    (when (and start (<= start (point)) (= (line-number-at-pos start) (line-number-at-pos (point))))
      (let ((typed (buffer-substring-no-properties start (point)))
            (text (plist-get item :text)))
        (when (string-prefix-p typed text)
          (substring text (length typed)))))))

(defun llm-lsp-inline--hide ()
  (when llm-lsp-inline--overlay
    (delete-overlay llm-lsp-inline--overlay)
    (setq llm-lsp-inline--overlay nil))
  (llm-lsp-inline--visible-mode -1))

(defun llm-lsp-inline--reset ()
  "Forget the suggestion, the timer and any answer still to come."
  (when llm-lsp-inline--timer
    (cancel-timer llm-lsp-inline--timer)
    (setq llm-lsp-inline--timer nil))
  (cl-incf llm-lsp-inline--seq)
  (llm-lsp-inline--hide)
  (setq llm-lsp-inline--items nil))

(defun llm-lsp-inline--notify (item method params)
  (when (plist-get item :raw)
    (ignore-errors (funcall (plist-get llm-lsp-inline-backend :notify) method params))))

(defun llm-lsp-inline--render ()
  "Draw the current item's rest after point; non-nil when something is shown."
  (llm-lsp-inline--hide)
  (let* ((item (llm-lsp-inline--current))
         (rest (and item (llm-lsp-inline--rest item))))
    (when (and rest (not (string-empty-p rest)))
      (let ((ghost (propertize rest 'face 'llm-lsp-inline-face)))
        (put-text-property 0 1 'cursor t ghost)  ; the cursor stays before the ghost text
        (setq llm-lsp-inline--overlay (make-overlay (point) (point) nil nil t))
        (overlay-put llm-lsp-inline--overlay 'after-string ghost)
        (overlay-put llm-lsp-inline--overlay 'llm-lsp-inline t))
      (llm-lsp-inline--visible-mode 1)
      (unless (plist-get item :shown)
        (setf (nth llm-lsp-inline--index llm-lsp-inline--items) (plist-put item :shown t))
        (llm-lsp-inline--notify item "textDocument/didShowCompletion" (list :item (plist-get item :raw))))
      t)))

(defun llm-lsp-inline-suggestion ()
  "The text the shown suggestion would still insert, or nil."
  (and llm-lsp-inline--overlay
       (substring-no-properties (overlay-get llm-lsp-inline--overlay 'after-string))))

;;; Asking

(defun llm-lsp-inline--request (trigger-kind &optional cycle)
  "Ask for suggestions at point (TRIGGER-KIND 1 invoked, 2 automatic).
CYCLE (TEXT . DELTA): the answer lists alternatives; show the one DELTA away from TEXT."
  (when llm-lsp-inline-backend
    (let ((seq (cl-incf llm-lsp-inline--seq))
          (buffer (current-buffer))
          (where (point))
          (params (append (funcall (plist-get llm-lsp-inline-backend :params))
                          (list :context (list :triggerKind trigger-kind)))))
      (funcall (plist-get llm-lsp-inline-backend :request) params
               (lambda (result)
                 (when (buffer-live-p buffer)
                   (with-current-buffer buffer
                     (when (and (= seq llm-lsp-inline--seq) (= where (point)))
                       (setq llm-lsp-inline--items (llm-lsp-inline--to-items result)
                             llm-lsp-inline--index 0)
                       (when cycle
                         (let ((found (cl-position (car cycle) llm-lsp-inline--items
                                                   :key (lambda (i) (plist-get i :text)) :test #'equal)))
                           (when (and found llm-lsp-inline--items)
                             (setq llm-lsp-inline--index
                                   (mod (+ found (cdr cycle)) (length llm-lsp-inline--items))))))
                       (llm-lsp-inline--render)))))))))

(defun llm-lsp-inline--schedule ()
  (when llm-lsp-inline--timer
    (cancel-timer llm-lsp-inline--timer))
  (let ((buffer (current-buffer)))
    (setq llm-lsp-inline--timer
          (run-with-timer llm-lsp-inline-delay nil
                          (lambda ()
                            (when (buffer-live-p buffer)
                              (with-current-buffer buffer
                                (setq llm-lsp-inline--timer nil)
                                (when (eq buffer (window-buffer (selected-window)))
                                  (llm-lsp-inline--request 2)))))))))

(defun llm-lsp-inline--after-change (&rest _)
  "Typing keeps a suggestion it continues and asks again after a pause; our own edits do neither."
  (unless llm-lsp-inline--editing
    (cl-incf llm-lsp-inline--seq)
    (unless (llm-lsp-inline--render)
      (setq llm-lsp-inline--items nil))
    (llm-lsp-inline--schedule)))

(defun llm-lsp-inline--post-command ()
  "A command that moved point away from the suggestion hides it."
  (when (and llm-lsp-inline--overlay
             (/= (point) (overlay-start llm-lsp-inline--overlay)))
    (llm-lsp-inline--reset)))

;;; Accepting

(defun llm-lsp-inline--insert (text)
  (let ((llm-lsp-inline--editing t))
    (insert text)))

(defun llm-lsp-inline-accept ()
  "Insert the shown suggestion and run its command (the server counts it)."
  (interactive)
  (let* ((item (llm-lsp-inline--current))
         (rest (and item (llm-lsp-inline--rest item))))
    (if (not rest)
        (llm-lsp-inline--reset)
      (llm-lsp-inline--reset)
      (let ((llm-lsp-inline--editing t))
        (delete-region (point) (min (point-max) (+ (point) (plist-get item :after))))
        (insert rest))
      (when-let ((command (llm-lsp-inline--get (plist-get item :raw) :command)))
        (ignore-errors (funcall (plist-get llm-lsp-inline-backend :execute) command)))
      t)))

(defun llm-lsp-inline--accept-part (cut)
  "Insert the part CUT takes of the shown suggestion's rest; draw the rest at once."
  (let* ((item (llm-lsp-inline--current))
         (rest (and item (llm-lsp-inline--rest item)))
         (part (and rest (funcall cut rest))))
    (cond
     ((not rest) nil)
     ((string= part rest) (llm-lsp-inline-accept))
     (t
      (let ((typed (buffer-substring-no-properties (plist-get item :start) (point))))
        (llm-lsp-inline--insert part)
        ;; The item now starts at point; what was typed and accepted is consumed.
        (setq item (plist-put item :consumed (+ (plist-get item :consumed)
                                                (llm-lsp-inline--utf16-length (concat typed part)))))
        (setq item (plist-put item :text (substring rest (length part))))
        (setq item (plist-put item :start (point)))
        (setf (nth llm-lsp-inline--index llm-lsp-inline--items) item)
        (llm-lsp-inline--render)
        (llm-lsp-inline--notify item "textDocument/didPartiallyAcceptCompletion"
                                (list :item (plist-get item :raw) :acceptedLength (plist-get item :consumed)))
        t)))))

(defun llm-lsp-inline--next-word (rest)
  "REST's next word: leading blanks, then a word or a run of other characters (a line break alone)."
  (if (string-match "\\`[ \t]*\\([[:alnum:]_]+\\|[^[:alnum:]_ \t\n]+\\|\n\\)" rest)
      (match-string 0 rest)
    rest))

(defun llm-lsp-inline--next-line (rest)
  "REST up to and with its first line break (all of it on its last line)."
  (if (string-match "\\`[^\n]*\n" rest) (match-string 0 rest) rest))

(defun llm-lsp-inline-accept-word ()
  "Insert the next word of the shown suggestion; the rest stays shown."
  (interactive)
  (llm-lsp-inline--accept-part #'llm-lsp-inline--next-word))

(defun llm-lsp-inline-accept-line ()
  "Insert the rest of the shown suggestion's current line, with its line break; the rest stays shown."
  (interactive)
  (llm-lsp-inline--accept-part #'llm-lsp-inline--next-line))

(defun llm-lsp-inline--cycle (delta)
  (if (> (length llm-lsp-inline--items) 1)
      (progn (setq llm-lsp-inline--index (mod (+ llm-lsp-inline--index delta) (length llm-lsp-inline--items)))
             (llm-lsp-inline--render))
    ;; One suggestion so far: ask for alternatives (the server asks the model for several, once).
    (let ((current (llm-lsp-inline--current)))
      (llm-lsp-inline--request 1 (and current (cons (plist-get current :text) delta))))))

(defun llm-lsp-inline-next ()
  "Show the next alternative."
  (interactive)
  (llm-lsp-inline--cycle 1))

(defun llm-lsp-inline-previous ()
  "Show the previous alternative."
  (interactive)
  (llm-lsp-inline--cycle -1))

(defun llm-lsp-inline-suggest ()
  "Ask for a suggestion at point now."
  (interactive)
  (llm-lsp-inline--request 1))

(defun llm-lsp-inline-dismiss ()
  "Hide the suggestion."
  (interactive)
  (llm-lsp-inline--reset))

(provide 'llm-lsp-inline)
;;; llm-lsp-inline.el ends here
